// Templates and helper programs (helpers/*.py) are bundled as their text
// (esbuild loader 'text'; a vite plugin in tests; scripts/text-imports.mjs under tsx).
declare module '*.hbs' {
  const text: string;
  export default text;
}
declare module '*.py' {
  const text: string;
  export default text;
}

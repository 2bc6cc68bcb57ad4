// Templates are bundled as text (esbuild loader '.hbs': 'text'; a vite plugin in tests).
declare module '*.hbs' {
  const text: string;
  export default text;
}

// The linter: typescript-eslint with type-aware rules, sorted imports, and the
// layers of src/ as import rules. src/ reads top-down:
//   cli -> engine -> steps -> state -> render -> tools -> config -> errors
// A module may import its own folder and any folder below it, never one above;
// only src/tools/ may start processes (execa, node:child_process, and
// systeminformation, which spawns commands of its own).
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const LAYERS = ['cli', 'engine', 'steps', 'state', 'render', 'tools', 'config'];
const PROCESS_MODULES = ['execa', 'node:child_process', 'child_process', 'systeminformation'];

/** The import rule of one layer: no folder above it, and no process module outside tools/. */
function layerRule(layer) {
  const above = LAYERS.slice(0, LAYERS.indexOf(layer));
  const patterns = above.map((name) => ({
    group: [`**/${name}/*`, `**/${name}/**`],
    message: `src/${layer} may not import src/${name}, a layer above it (${LAYERS.join(' -> ')} -> errors)`,
  }));
  const paths =
    layer === 'tools'
      ? []
      : PROCESS_MODULES.map((name) => ({
          name,
          message: 'only src/tools/ may start processes: use the Runner',
        }));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns, paths }] },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // `typeof import('m')` names a module loaded lazily, without loading it.
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      // An async method may implement an async interface without awaiting.
      '@typescript-eslint/require-await': 'off',
      // Control characters in patterns are deliberate: they are what we escape or refuse.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: globals.node,
    },
  },
  // Tests and scripts read JSON that a guest or a tool printed; src/ parses with zod.
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  ...LAYERS.map(layerRule),
  {
    files: ['src/**/*.ts'],
    ignores: [...LAYERS.map((name) => `src/${name}/**`), 'src/bin.ts', 'src/errors.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'Program', message: `not in a layer: put it under src/{${LAYERS.join(',')}}` },
      ],
    },
  },
  {
    files: ['src/errors.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['./*/**'], message: 'src/errors.ts is the bottom layer' }] },
      ],
    },
  },
);

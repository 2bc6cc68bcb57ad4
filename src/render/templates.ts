/**
 * Renders templates/ with Handlebars in a mode that escapes nothing by itself:
 * every {{...}} must call a quoting helper, and a lint at load (Handlebars.parse)
 * rejects a bare value or a triple stash with file, line and column.
 */
import Handlebars from 'handlebars';

import pathsLock from '../../templates/partials/paths-lock.sh.hbs';
import rootShut from '../../templates/partials/root-shut.sh.hbs';
import window from '../../templates/partials/window.sh.hbs';
import { LeapError } from '../errors.js';
import { execArg, execPath, shQuote, shText, unitName, unitPath, unitValue } from './quote.js';

const QUOTING_HELPERS: Record<string, (value: string) => string> = {
  sh: shQuote,
  shText,
  execArg,
  execPath,
  unitValue,
  unitPath,
  unitName,
};
const BLOCK_HELPERS = new Set(['if', 'unless', 'each']);
/**
 * The shell written once for two scripts, by `{{> name}}`: each is linted where
 * it is spliced in, as part of the template that uses it, and renders with that
 * template's own context (a partial given another one is refused).
 */
const PARTIALS: Record<string, { file: string; source: string }> = {
  'paths-lock': { file: 'templates/partials/paths-lock.sh.hbs', source: pathsLock },
  'root-shut': { file: 'templates/partials/root-shut.sh.hbs', source: rootShut },
  window: { file: 'templates/partials/window.sh.hbs', source: window },
};
// Partial blocks and decorators would splice in text the lint never saw.
const REFUSED = new Set(['PartialBlockStatement', 'DecoratorBlock', 'Decorator']);

const hbs = Handlebars.create();
for (const [name, fn] of Object.entries(QUOTING_HELPERS))
  hbs.registerHelper(name, (value: unknown) => fn(present(value, name)));
for (const [name, { source }] of Object.entries(PARTIALS)) hbs.registerPartial(name, source);

// Strict mode does not check helper arguments: a missing value must not render as "undefined".
function present(value: unknown, helper: string): string {
  if (value === undefined || value === null)
    throw new LeapError(
      'TEMPLATE_MISSING_VALUE',
      `a {{${helper}}} argument is missing from the template context`,
      { hint: 'this is a bug in kernel-leap' },
    );
  return typeof value === 'string' ? value : JSON.stringify(value);
}

type Node = {
  type: string;
  loc?: { start: { line: number; column: number } };
  [key: string]: unknown;
};

/** Throws TEMPLATE_LINT naming `name:line:col` for the first {{...}} that is not quoted. */
export function lintTemplate(name: string, source: string): void {
  visit(hbs.parse(source) as unknown as Node, name);
}

function visit(node: Node, file: string): void {
  if (REFUSED.has(node.type))
    fail(file, node, 'partial blocks and decorators are not allowed in templates');
  if (node.type === 'MustacheStatement') checkMustache(node, file);
  if (node.type === 'PartialStatement') checkPartial(node, file);
  if (node.type === 'BlockStatement') {
    const path = (node.path as { original?: string }).original ?? '';
    if (!BLOCK_HELPERS.has(path)) fail(file, node, `unknown block helper #${path}`);
  }
  for (const child of [node.program, node.inverse, ...((node.body as Node[] | undefined) ?? [])]) {
    if (child && typeof child === 'object') visit(child as Node, file);
  }
}

function checkMustache(node: Node, file: string): void {
  if (node.escaped === false) fail(file, node, 'a triple stash {{{...}}} bypasses quoting');
  const helper = (node.path as { original?: string }).original ?? '';
  const params = (node.params as unknown[] | undefined) ?? [];
  if (!Object.hasOwn(QUOTING_HELPERS, helper) || params.length !== 1) {
    fail(
      file,
      node,
      `{{${helper}}} must be a quoting helper call with one value: ${Object.keys(QUOTING_HELPERS)
        .map((h) => `{{${h} x}}`)
        .join(', ')}`,
    );
  }
}

/** A known partial with no context of its own, then what it splices in, as if written here. */
function checkPartial(node: Node, file: string): void {
  const name = (node.name as { original?: string }).original ?? '';
  const partial = Object.hasOwn(PARTIALS, name) ? PARTIALS[name] : undefined;
  if (!partial)
    fail(file, node, `unknown partial {{> ${name}}}: ${Object.keys(PARTIALS).join(', ')}`);
  const params = (node.params as unknown[] | undefined) ?? [];
  if (params.length > 0 || node.hash)
    fail(file, node, `{{> ${name}}} takes the template's own context, no other`);
  visit(hbs.parse(partial.source) as unknown as Node, partial.file);
}

function fail(file: string, node: Node, message: string): never {
  const at = node.loc ? `${node.loc.start.line}:${node.loc.start.column + 1}` : '?';
  throw new LeapError('TEMPLATE_LINT', `${file}:${at}: ${message}`, {
    hint: 'wrap every value in the helper for where it lands',
  });
}

/** Lints, then compiles; the returned function throws on a missing or unsafe value. */
export function compileTemplate<C extends object>(
  name: string,
  source: string,
): (context: C) => string {
  lintTemplate(name, source);
  const knownHelpers = Object.fromEntries(Object.keys(QUOTING_HELPERS).map((h) => [h, true]));
  const render = hbs.compile(source, {
    strict: true,
    noEscape: true,
    knownHelpersOnly: true,
    knownHelpers,
  });
  return (context) => render(context);
}

import { describe, expect, it } from 'vitest';

import { compileTemplate, lintTemplate } from '../../../src/render/templates.js';
import rootShut from '../../../templates/partials/root-shut.sh.hbs';

const lintError = (message: string | RegExp) =>
  expect.objectContaining({
    code: 'TEMPLATE_LINT',
    message:
      typeof message === 'string'
        ? expect.stringContaining(message)
        : expect.stringMatching(message),
  });

describe('template lint', () => {
  it('rejects a bare value with file, line and column', () => {
    expect(() => lintTemplate('t.hbs', 'A=1\nB={{value}}\n')).toThrowError(
      lintError('t.hbs:2:3: {{value}} must be a quoting helper call'),
    );
  });

  it('rejects a triple stash, even around a helper', () => {
    expect(() => lintTemplate('t.hbs', 'X={{{x}}}')).toThrowError(
      lintError('t.hbs:1:3: a triple stash'),
    );
    expect(() => lintTemplate('t.hbs', '\n  X={{{sh x}}}')).toThrowError(
      lintError('t.hbs:2:5: a triple stash'),
    );
  });

  it('rejects an unknown helper, a helper without its value, and an extra value', () => {
    expect(() => lintTemplate('t.hbs', '{{lookup a b}}')).toThrowError(
      lintError(/t\.hbs:1:1: \{\{lookup\}\} must be/),
    );
    expect(() => lintTemplate('t.hbs', '{{sh}}')).toThrowError(lintError('t.hbs:1:1'));
    expect(() => lintTemplate('t.hbs', '{{sh a b}}')).toThrowError(lintError('t.hbs:1:1'));
  });

  it('checks inside #if and #each, and rejects other blocks', () => {
    expect(() =>
      lintTemplate(
        't.hbs',
        '{{#each xs}}{{sh this}}{{/each}}{{#if y}}{{execArg y}}{{else}}{{unitValue z}}{{/if}}',
      ),
    ).not.toThrow();
    expect(() => lintTemplate('t.hbs', '{{#each xs}}\n{{this}}{{/each}}')).toThrowError(
      lintError('t.hbs:2:1'),
    );
    expect(() => lintTemplate('t.hbs', '{{#if y}}{{else}}{{z}}{{/if}}')).toThrowError(
      lintError('t.hbs:1:18'),
    );
    expect(() => lintTemplate('t.hbs', '{{#with y}}{{sh z}}{{/with}}')).toThrowError(
      lintError('unknown block helper #with'),
    );
  });

  it('takes a known partial with the template’s own context', () => {
    expect(() => lintTemplate('t.hbs', 'A=1\n{{> root-shut}}\n')).not.toThrow();
  });

  it.each([
    ['{{> other}}', 't.hbs:1:1: unknown partial {{> other}}: paths-lock, root-shut, window'],
    ['{{> root-shut ctx}}', "{{> root-shut}} takes the template's own context"],
    ['{{> root-shut x=1}}', "{{> root-shut}} takes the template's own context"],
    ['{{#> root-shut}}{{/root-shut}}', 'partial blocks and decorators'],
  ])('rejects %s', (source, message) => {
    expect(() => lintTemplate('t.hbs', source)).toThrowError(lintError(message));
  });

  it('splices a partial in as it is written, on its own line', () => {
    const text = compileTemplate<object>('t.hbs', 'A=1\n{{> root-shut}}\nB=2\n')({});
    expect(text).toBe(`A=1\n${rootShut}B=2\n`);
  });

  it('renders with strict mode: a missing value is an error, not an empty string or "undefined"', () => {
    const render = compileTemplate<{ a?: string }>('t.hbs', 'A={{sh a}}');
    expect(render({ a: `it's` })).toBe(`A='it'\\''s'`);
    expect(() => render({})).toThrowError(
      expect.objectContaining({ code: 'TEMPLATE_MISSING_VALUE' }),
    );
  });

  it('does not HTML-escape what a helper returns', () => {
    expect(compileTemplate<{ a: string }>('t.hbs', '{{execArg a}}')({ a: `<&'=>` })).toBe(
      `"<&'=>"`,
    );
  });
});

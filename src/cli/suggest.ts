/** "did you mean ...": the nearest known word to a mistyped one, for usage errors. */

/** Edits (insert, delete, replace, swap of neighbours) between a and b. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known word nearest to `word`, if it is near enough to be what was meant:
 * at most a third of its letters off (so `pln` finds `plan`, `xyz` nothing),
 * or `word` is the start of exactly one known word (`rehe` finds `rehearse`).
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  const prefixed = known.filter((k) => word.length >= 2 && k.startsWith(word));
  if (prefixed.length === 1) return prefixed[0];
  const ranked = known
    .map((k) => ({ k, distance: editDistance(word, k) }))
    .sort((x, y) => x.distance - y.distance);
  const best = ranked[0];
  return best && best.distance <= Math.max(1, Math.floor(best.k.length / 3)) ? best.k : undefined;
}

/** `did you mean "X"?`, or an empty string when no known word is near. */
export function didYouMean(word: string, known: readonly string[]): string {
  const match = closest(word, known);
  return match === undefined ? '' : `did you mean "${match}"?`;
}

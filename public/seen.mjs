// Broadcasts arrive at least once: a queue message that is retried posts again to connections it
// already reached. Each broadcast carries an id; `firstTime(id)` is true only the first time an id is
// seen, remembering the last `limit` ids (an old id coming back after that many is shown again).

export const SEEN_LIMIT = 1000;

export function seenIds(limit = SEEN_LIMIT) {
  const seen = new Set();
  return function firstTime(id) {
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > limit) seen.delete(seen.values().next().value); // a Set iterates oldest first
    return true;
  };
}

// public/seen.mjs under Node's test runner: a broadcast id is shown once, however often it arrives
// (delivery through the queue is at least once); only the last SEEN_LIMIT ids are remembered.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SEEN_LIMIT, seenIds } from '../../public/seen.mjs';

test('an id is new the first time only', () => {
  const firstTime = seenIds();
  assert.deepEqual(['a', 'b', 'a', 'a', 'b', 'c'].map(firstTime), [true, true, false, false, false, true]);
});

test('the oldest id is forgotten once the limit is passed, and no sooner', () => {
  const firstTime = seenIds(3);
  ['a', 'b', 'c'].forEach(firstTime);
  assert.equal(firstTime('a'), false); // 3 remembered: the limit itself
  assert.equal(firstTime('d'), true); // the 4th forgets 'a'
  assert.equal(firstTime('b'), false);
  assert.equal(firstTime('a'), true);
  assert.equal(SEEN_LIMIT, 1000);
});

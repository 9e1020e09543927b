// public/backoff.mjs under Node's test runner (`node --test tests/page/*.test.mjs`, part of `make test`):
// the page's reconnect delay grows from 500 ms, doubles per failure, is jittered in the ceiling's
// upper half and never exceeds 15 s. `random` is injected, so every figure is exact.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RECONNECT_FIRST_MS, RECONNECT_MAX_MS, reconnectDelay } from '../../public/backoff.mjs';

const lowest = () => 0;
const highest = () => 1 - Number.EPSILON;

test('the ceiling starts at 500 ms and doubles with each failure in a row', () => {
  const ceilings = [0, 1, 2, 3, 4].map((failures) => reconnectDelay(failures, highest));
  assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000]);
  assert.equal(RECONNECT_FIRST_MS, 500);
});

test('the delay is never under half the ceiling', () => {
  const floors = [0, 1, 2, 3, 4].map((failures) => reconnectDelay(failures, lowest));
  assert.deepEqual(floors, [250, 500, 1000, 2000, 4000]);
});

test('the ceiling stops at 15 s: 16 s would be next, and any number of failures stays there', () => {
  assert.equal(RECONNECT_MAX_MS, 15000);
  assert.equal(reconnectDelay(5, highest), 15000);
  assert.equal(reconnectDelay(5, lowest), 7500);
  for (const failures of [6, 10, 100, 2000]) {
    assert.equal(reconnectDelay(failures, highest), 15000);
    assert.equal(reconnectDelay(failures, lowest), 7500);
  }
});

test('the jitter places the delay by the random draw, linearly across the upper half', () => {
  assert.equal(reconnectDelay(3, () => 0.5), 3000);
  assert.equal(reconnectDelay(3, () => 0.25), 2500);
});

test('without an injected draw it uses Math.random, so pages dropped together spread out', () => {
  const delays = Array.from({ length: 200 }, () => reconnectDelay(4));
  assert.ok(delays.every((delay) => delay >= 4000 && delay <= 8000), 'within [ceiling / 2, ceiling]');
  assert.ok(new Set(delays).size > 50, 'spread, not one instant');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration } from '../../src/ui/format.js';

test('durations: ms, tenths of seconds, then minutes with whole seconds that never read 60', () => {
  assert.equal(formatDuration(232), '232 ms');
  assert.equal(formatDuration(1234), '1.2 s');
  assert.equal(formatDuration(59_990), '1 m 0 s');
  assert.equal(formatDuration(179_600), '3 m 0 s');
  assert.equal(formatDuration(193_000), '3 m 13 s');
});

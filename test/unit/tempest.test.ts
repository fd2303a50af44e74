import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { excludeList, excludeListPath } from '../../src/tempest/run.js';

test('exclude list: an @unless block applies only while its service is off', () => {
  const text = readFileSync(excludeListPath, 'utf8');
  const without = excludeList(text, { enable_neutron: false });
  const withNeutron = excludeList(text, { enable_neutron: true });
  assert.match(without, /^\^tempest\\\.api\\\.compute\\\.servers\\\.$/m);
  assert.doesNotMatch(withNeutron, /compute\\\.servers/);
  assert.doesNotMatch(withNeutron, /^@/m);
  // Lines after @always apply either way.
  assert.match(withNeutron, /test_credentials/);
});

// The SOTIF page's grouping of the known triggering conditions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { groupByKind, NOT_ARGUED, statusWord } from "../src/dashboard/sotif_groups.js";

test("conditions group by kind in ISO order, sorted by slice, with status counts", () => {
  const groups = groupByKind([
    { slice: "weather:rain", kind: "weather", status: null },
    { slice: "class:dog", kind: "class", status: "violated" },
    { slice: "distance:0-20m", kind: "distance", status: "supported" },
    { slice: "class:deer", kind: "class", status: "supported" },
    { slice: "class:cat", kind: "class", status: "supported" },
  ]);
  assert.deepEqual(
    groups.map((g) => g.kind),
    ["class", "distance", "weather"],
  );
  assert.deepEqual(
    groups[0].conditions.map((c) => c.slice),
    ["class:cat", "class:deer", "class:dog"],
  );
  assert.deepEqual(groups[0].counts, { supported: 2, violated: 1 });
  assert.deepEqual(groups[2].counts, { [NOT_ARGUED]: 1 });
});

test("an unforeseen kind comes after the known ones; a condition without SPI is not argued", () => {
  const groups = groupByKind([
    { slice: "zz", kind: "lighting", status: "challenged" },
    { slice: "sparse", kind: "sparsity", status: null },
  ]);
  assert.deepEqual(
    groups.map((g) => g.kind),
    ["sparsity", "lighting"],
  );
  assert.equal(statusWord({ slice: "sparse", kind: "sparsity", status: null }), NOT_ARGUED);
  assert.equal(groupByKind([]).length, 0);
});

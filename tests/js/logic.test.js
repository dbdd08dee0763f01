// The status page's logic (chalicelib/statuspage/logic.js), with node's own test runner:
// `node --test tests/js/` (tests/test_statuspage.py runs it in the suite).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const L = require("../../chalicelib/statuspage/logic.js");

const IP2 = ["idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete"];

test("the API's base path keeps API Gateway's stage prefix", () => {
  assert.equal(L.apiBase("/api/status"), "/api/");
  assert.equal(L.apiBase("/api/status/"), "/api/");
  assert.equal(L.apiBase("/status"), "/");
});

test("statuses follow the protocol's order, then any others the API answered with", () => {
  assert.deepEqual(L.statusOrder(IP2, [{ complete: 1, waiting: 2 }]), IP2);
  assert.deepEqual(L.statusOrder(["idle", "complete"], [{ complete: 1, archived: 2 }, { paused: 1, archived: 1 }]),
    ["idle", "complete", "archived", "paused"]);
});

test("a bar has a part per status with tasks, in display order, with shares", () => {
  const bar = L.segments(IP2, { complete: 3, waiting: 1, failed: 0 });
  assert.equal(bar.total, 4);
  assert.deepEqual(bar.parts.map((p) => [p.status, p.count, p.percent]), [["waiting", 1, 25], ["complete", 3, 75]]);
  assert.deepEqual(L.segments(IP2, {}), { total: 0, parts: [] });
});

test("counts and shares read as people expect", () => {
  assert.equal(L.formatCount(1234567), "1,234,567");
  assert.equal(L.formatCount(0), "0");
  assert.equal(L.formatPercent(0.2), "<1%");
  assert.equal(L.formatPercent(99.6), ">99%");
  assert.equal(L.formatPercent(100), "100%");
  assert.equal(L.formatPercent(33.33), "33%");
});

test("the age of the data in seconds, minutes, hours", () => {
  assert.equal(L.formatAge(0), "updated 0 s ago");
  assert.equal(L.formatAge(59.9), "updated 59 s ago");
  assert.equal(L.formatAge(61), "updated 1 min ago");
  assert.equal(L.formatAge(7300), "updated 2 h ago");
  assert.equal(L.formatAge(-3), "updated 0 s ago");
});

test("a bar's text alternative holds every number it shows", () => {
  const bar = L.segments(IP2, { complete: 1500, failed: 500 });
  assert.equal(L.describe("Dataset 22001", bar), "Dataset 22001: 2,000 tasks: 500 failed (25%), 1,500 complete (75%)");
  assert.equal(L.describe("Dataset x", L.segments(IP2, { queued: 1 })), "Dataset x: 1 task: 1 queued (100%)");
  assert.equal(L.describe("Dataset y", L.segments(IP2, {})), "Dataset y: no tasks");
});

test("dataset ids sort by number where they are numbers", () => {
  assert.deepEqual(L.sortIds(["22010", "9", "22001", "b", "a10", "a9"]), ["9", "22001", "22010", "a9", "a10", "b"]);
});

test("401 and 403 reject the token; other failures are retried", () => {
  assert.equal(L.outcome(200), "ok");
  assert.equal(L.outcome(401), "rejected");
  assert.equal(L.outcome(403), "rejected");
  assert.equal(L.outcome(503), "error");
  assert.equal(L.outcome(0), "error");
});

test("refreshes back off by doubling on each failure in a row, up to a cap", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((f) => L.nextDelay(10, f)), [10, 20, 40, 80, 160, 300, 300]);
  assert.equal(L.nextDelay(10, 1000), L.MAX_DELAY);
});

test("the refresh interval comes from the fragment, within bounds", () => {
  assert.equal(L.refreshInterval(""), L.INTERVAL);
  assert.equal(L.refreshInterval("#refresh=2"), 2);
  assert.equal(L.refreshInterval("#a=1&refresh=30"), 30);
  assert.equal(L.refreshInterval("#refresh=0"), 1);
  assert.equal(L.refreshInterval("#refresh=99999"), 3600);
  assert.equal(L.refreshInterval("#refresh=abc"), L.INTERVAL);
});

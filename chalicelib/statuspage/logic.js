// The status page's logic, free of the DOM: node's test runner loads this file as it is
// (tests/js/), the page inlines it before page.js.
"use strict";

const StatusLogic = (() => {
  /** Seconds between refreshes when all is well, and the most a failing page waits. */
  const INTERVAL = 10;
  const MAX_DELAY = 300;

  /** The API's base path from the page's own: "/api/status" -> "/api/" (the stage prefix). */
  function apiBase(pathname) {
    return pathname.replace(/\/+$/, "").replace(/[^/]*$/, "");
  }

  /** Statuses in display order: the protocol's, then any other the API answered with (a newer
   * protocol's), in the order first seen, so nothing counted is ever hidden. */
  function statusOrder(protocol, answers) {
    const order = [...protocol];
    for (const counts of answers) {
      for (const status of Object.keys(counts)) {
        if (!order.includes(status)) order.push(status);
      }
    }
    return order;
  }

  /** The bar's parts: every status with tasks, in display order, with its share in percent. */
  function segments(order, counts) {
    const total = order.reduce((sum, status) => sum + (counts[status] || 0), 0);
    const parts = order
      .filter((status) => (counts[status] || 0) > 0)
      .map((status) => ({ status, count: counts[status], percent: (100 * counts[status]) / total }));
    return { total, parts };
  }

  function formatCount(n) {
    return Number(n).toLocaleString("en-US");
  }

  /** A share as people read it: never "0%" for some tasks, never "100%" while some remain. */
  function formatPercent(percent) {
    if (percent > 0 && percent < 1) return "<1%";
    if (percent > 99 && percent < 100) return ">99%";
    return `${Math.round(percent)}%`;
  }

  function formatAge(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `updated ${s} s ago`;
    if (s < 3600) return `updated ${Math.floor(s / 60)} min ago`;
    return `updated ${Math.floor(s / 3600)} h ago`;
  }

  /** The bar's text alternative: every number it shows, in words. */
  function describe(label, bar) {
    if (bar.total === 0) return `${label}: no tasks`;
    const parts = bar.parts.map((p) => `${formatCount(p.count)} ${p.status} (${formatPercent(p.percent)})`);
    const noun = bar.total === 1 ? "task" : "tasks";
    return `${label}: ${formatCount(bar.total)} ${noun}: ${parts.join(", ")}`;
  }

  /** Dataset ids in the order people expect: numbers by value ("9" before "10"). */
  function sortIds(ids) {
    return [...ids].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  }

  /** What an HTTP status means for the page. */
  function outcome(status) {
    if (status >= 200 && status < 300) return "ok";
    if (status === 401 || status === 403) return "rejected";
    return "error";
  }

  /** Seconds until the next refresh: the interval, doubled for each failure in a row, capped. */
  function nextDelay(interval, failures) {
    return Math.min(MAX_DELAY, interval * 2 ** Math.min(failures, 16));
  }

  /** The refresh interval from the page's fragment ("#refresh=30"; 1 s to 1 h), else the
   * default. A fragment never reaches a server or a log. */
  function refreshInterval(hash) {
    const match = /(?:^#|&)refresh=(\d+)(?:&|$)/.exec(hash || "");
    if (!match) return INTERVAL;
    return Math.min(3600, Math.max(1, Number(match[1])));
  }

  return {
    INTERVAL, MAX_DELAY, apiBase, statusOrder, segments, formatCount, formatPercent, formatAge,
    describe, sortIds, outcome, nextDelay, refreshInterval,
  };
})();

if (typeof module === "object" && module.exports) module.exports = StatusLogic;

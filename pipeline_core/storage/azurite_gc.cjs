// Loaded into Azurite with `node --require` (NODE_OPTIONS) by pipeline_core/storage/azurite.py.
//
// Why: Azurite 3.37's blob garbage collector sweeps every 10 minutes and deletes each unreferenced
// extent with a LokiJS findAndRemove that rebuilds the extents' binary index each time, so a sweep
// costs (extents x index size). A test session overwrites blobs tens of thousands of times; its
// sweep at minute 10 held Azurite's only thread at 100 % for minutes, and every storage call in
// flight timed out. A temporary (in-memory) emulator lives for one session and has memory to spare,
// so it needs no sweep: AMLITE_AZURITE_GC_INTERVAL_MS sets the pause between sweeps (the longest a
// Node timer allows is about 24.8 days). Unset, Azurite keeps its own 10 minutes.
"use strict";
const path = require("path");

const wanted = process.env.AMLITE_AZURITE_GC_INTERVAL_MS;
const root = process.env.AMLITE_AZURITE_PACKAGE;
if (wanted && root) {
  const interval = Number(wanted);
  if (!Number.isInteger(interval) || interval < 1 || interval > 2147483647) {
    throw new Error(`AMLITE_AZURITE_GC_INTERVAL_MS=${wanted}: give whole milliseconds from 1 to 2147483647`);
  }
  const constants = require(path.join(root, "dist", "src", "blob", "utils", "constants.js"));
  if (typeof constants.DEFAULT_GC_INTERVAL_MS !== "number") {
    throw new Error(`${root} has no blob DEFAULT_GC_INTERVAL_MS: this Azurite is not the version amlite pins ` +
      "(package.json); run `npm ci` in amlite's checkout");
  }
  constants.DEFAULT_GC_INTERVAL_MS = interval;
  console.log(`amlite: Azurite blob garbage collection every ${interval} ms`);
}

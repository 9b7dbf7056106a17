#!/usr/bin/env node
// Test oracle: render ZPL to PNG with the independent npm renderer `zpl-renderer-js` (a wrapper
// of the Zebrash renderer), so tests can decode the barcodes a real printer would print.
//
// Usage: node zpl-to-png.cjs IN.zpl OUT.png WIDTH_MM HEIGHT_MM DPMM
// The package is found in $CASENOTE_NPM_DIR/node_modules (default ~/.cache/casenote-npm), where
// `npm install --prefix ~/.cache/casenote-npm zpl-renderer-js@3.4.0` puts it.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const os = require("node:os");

async function main() {
  const [inPath, outPath, w, h, dpmm] = process.argv.slice(2);
  if (!inPath || !outPath) {
    console.error("usage: zpl-to-png.cjs IN.zpl OUT.png WIDTH_MM HEIGHT_MM DPMM");
    process.exit(2);
  }
  const dir = process.env.CASENOTE_NPM_DIR || path.join(os.homedir(), ".cache", "casenote-npm");
  const lib = require(path.join(dir, "node_modules", "zpl-renderer-js"));
  const { api } = await lib.ready;
  const zpl = fs.readFileSync(inPath, "utf8");
  const b64 = await api.zplToBase64Async(zpl, Number(w || 100), Number(h || 50), Number(dpmm || 8));
  fs.writeFileSync(outPath, Buffer.from(b64, "base64"));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`zpl-to-png: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  }
);

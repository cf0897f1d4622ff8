// Bundle the front end into the Python package: napwidget/static/widget.js (+ widget.css).
// Everything (vega, vega-lite, vega-embed) is bundled: the widget works offline, in classic Notebook,
// JupyterLab, VS Code and Colab, and in save_html exports.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: { widget: "src/index.js" },
  bundle: true,
  format: "esm",
  minify: !watch && !process.env.NAPW_NO_MINIFY, // NAPW_NO_MINIFY=1: readable names in profiles
  target: ["es2020"],
  outdir: "../napwidget/static",
  // UMD dependencies must not find RequireJS's `define` in classic Notebook (anywidget issue #369).
  define: { "define.amd": "false" },
  legalComments: "none",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}

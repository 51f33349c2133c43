'use strict';
/* global __filename */

// Jest runs our tests as CommonJS and, on Node 20, cannot require() an ES module (Jest does that
// natively only on Node 24.9+). NestJS 12 ships ES modules only, so Jest compiles such packages to
// CommonJS with this transformer (the list is ESM_ONLY_PACKAGES in jest.config.ts). Production
// needs none of this: Node 20.19+ requires ES modules itself. Plain CommonJS because Jest loads
// transformers without compiling them.

const { createHash } = require('node:crypto');
const ts = require('typescript');

const SELF = require('node:fs').readFileSync(__filename, 'utf8');

// import.meta is a syntax error in CommonJS; these are its only uses in the packages we compile.
function replaceImportMeta(source) {
  return (
    source
      // CommonJS has a require already; declaring another is a syntax error (@nestjs/swagger does).
      .replace(/^const require = createRequire\(import\.meta\.url\);$/gm, '')
      .replace(/\bimport\.meta\.url\b/g, 'require("node:url").pathToFileURL(__filename).href')
      .replace(/\bimport\.meta\.dirname\b/g, '__dirname')
      .replace(/\bimport\.meta\.filename\b/g, '__filename')
  );
}

module.exports = {
  process(sourceText, sourcePath) {
    const { outputText } = ts.transpileModule(replaceImportMeta(sourceText), {
      fileName: sourcePath,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        allowJs: true,
        esModuleInterop: true,
        sourceMap: false,
      },
    });
    return { code: outputText };
  },
  getCacheKey(sourceText, sourcePath) {
    return createHash('sha256')
      .update(ts.version)
      .update(SELF)
      .update(sourcePath)
      .update(sourceText)
      .digest('hex');
  },
};

// Entry for the benchmark bundle: several real packages from
// testdata/node/node_modules, bundled and minified by esbuild into a ~6 MB
// source map (most of it sourcesContent, ~2 MB of mappings).
import * as rollup from 'rollup';
import * as terser from 'terser';
import * as acorn from 'acorn';
import axios from 'axios';
import * as preact from 'preact';
import Ajv from 'ajv';
export { rollup, terser, acorn, axios, preact, Ajv };

// Validates an OpenAPI document with @apidevtools/swagger-parser (the
// OpenAPI 3.1 meta-schema, then every $ref resolved). Exits 1 with the
// validator's message when the document is invalid.
//
//   node validate.mjs PATH_TO_OPENAPI_JSON
import SwaggerParser from '@apidevtools/swagger-parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs OPENAPI_JSON');
  process.exit(2);
}
try {
  const api = await SwaggerParser.validate(file);
  if (!String(api.openapi).startsWith('3.1.')) {
    throw new Error(`expected an OpenAPI 3.1 document, found openapi: ${api.openapi}`);
  }
  const operations = Object.values(api.paths).reduce(
    (n, item) => n + ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].filter((m) => item[m]).length, 0);
  console.log(`${file}: valid OpenAPI ${api.openapi} (${api.info.title} ${api.info.version}, ` +
              `${Object.keys(api.paths).length} paths, ${operations} operations)`);
} catch (error) {
  console.error(`${file}: INVALID: ${error.message}`);
  process.exit(1);
}

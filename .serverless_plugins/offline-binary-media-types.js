'use strict';

// Makes `sls offline` honour provider.apiGateway.binaryMediaTypes, as API Gateway does.
//
// API Gateway hands a Lambda proxy integration the request body base64-encoded
// (isBase64Encoded: true) when its Content-Type matches one of binaryMediaTypes; with
// '*/*' every body, whatever its type, or none (tritonclient sends its binary tensors
// with no Content-Type). serverless-offline (14.x) ignores the setting: it decodes a
// body as UTF-8 text unless the Content-Type names application/octet-stream or
// multipart/form-data (detectEncoding in its src/utils/index.js), and every byte that
// is not UTF-8 is replaced, so binary tensors reach the function corrupted. Its
// answers need nothing: a base64-encoded answer is decoded before it is sent.
//
// The one thing serverless-offline reads to choose is the Content-Type header as its
// HTTP server (hapi) sees it. An onRequest extension on that server marks a body that
// binaryMediaTypes matches as application/octet-stream there, so it is passed on
// base64-encoded, byte for byte. The event's headers are built from the raw request
// headers, so the function still sees the Content-Type the client sent (or none).
//
// List it after serverless-offline: hooks on the same event run in plugin order, and
// its server exists once serverless-offline's offline:start:init has run.

const OFFLINE_CONTENT_TYPE = 'application/octet-stream';

// Whether a Content-Type (undefined when absent) is one of binaryMediaTypes: exact, or
// 'type/*', or '*/*', as API Gateway matches them.
function isBinaryMediaType(contentType, binaryMediaTypes) {
  const media = (contentType || '').split(';')[0].trim().toLowerCase();
  return binaryMediaTypes.some((pattern) => {
    const wanted = String(pattern).trim().toLowerCase();
    if (wanted === '*/*') return true;
    if (!media) return false;
    if (wanted.endsWith('/*')) return media.startsWith(wanted.slice(0, -1));
    return media === wanted;
  });
}

function hasBody(headers) {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

class OfflineBinaryMediaTypes {
  constructor(serverless, cliOptions, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    this.hooks = { 'offline:start:init': () => this.extend() };
  }

  binaryMediaTypes() {
    const apiGateway = this.serverless.service.provider.apiGateway || {};
    return apiGateway.binaryMediaTypes || [];
  }

  apiGatewayServer() {
    const offline = this.serverless.pluginManager.plugins.find(
      (plugin) => plugin.constructor.name === 'ServerlessOffline',
    );
    // internals() is how serverless-offline's own tests reach its hapi server.
    if (!offline || typeof offline.internals !== 'function') return null;
    try {
      return offline.internals().getApiGatewayServer();
    } catch {
      return null; // no http events: no API Gateway server
    }
  }

  extend() {
    const types = this.binaryMediaTypes();
    if (!types.length) return;
    const server = this.apiGatewayServer();
    if (!server || typeof server.ext !== 'function') {
      this.log?.warning?.(
        'offline-binary-media-types: no serverless-offline API Gateway server found; ' +
          'binary request bodies may arrive corrupted',
      );
      return;
    }
    server.ext('onRequest', (request, h) => {
      const { headers } = request;
      if (hasBody(headers) && isBinaryMediaType(headers['content-type'], types)) {
        headers['content-type'] = OFFLINE_CONTENT_TYPE;
      }
      return h.continue;
    });
    this.log?.verbose?.(`binary media types honoured offline: ${types.join(', ')}`);
  }
}

module.exports = OfflineBinaryMediaTypes;
module.exports.isBinaryMediaType = isBinaryMediaType;

// Option validation (ERR_BAD_OPTION naming the option), merging of create() defaults, the error
// class and its cross-realm guards. Runs in Node: nothing here needs a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import {
  CometaError,
  create,
  isAbortError,
  isCometaError,
  isHTTPError,
  isJSONPError,
  isNetworkError,
  isParseError,
  isTimeoutError,
  type RequestOptions,
  request,
} from '../../src/client/index.js';
import { merge, toConfig, validate } from '../../src/client/options.js';

const bad = (options: unknown, message: string) =>
  assert.throws(() => validate(options as RequestOptions), {
    name: 'CometaError',
    code: 'ERR_BAD_OPTION',
    message,
  });

test('validate: each option type, with the option named', () => {
  bad(null, 'cometa: option "options" must be object');
  bad({ method: 1 }, 'cometa: option "method" must be string');
  bad({ headers: 'x' }, 'cometa: option "headers" must be object');
  bad({ query: 5 }, 'cometa: option "query" must be string or object');
  bad({ timeout: -1 }, 'cometa: option "timeout" must be number >= 0');
  bad({ timeout: Number.NaN }, 'cometa: option "timeout" must be number >= 0');
  bad({ timeout: Infinity }, 'cometa: option "timeout" must be number >= 0');
  bad({ timeout: '5' }, 'cometa: option "timeout" must be number >= 0');
  bad({ signal: null }, 'cometa: option "signal" must be object');
  bad({ withCredentials: 'yes' }, 'cometa: option "withCredentials" must be boolean');
  bad({ onUploadProgress: {} }, 'cometa: option "onUploadProgress" must be function');
  bad({ validateStatus: true }, 'cometa: option "validateStatus" must be function');
  bad(
    { responseType: 'document' },
    'cometa: option "responseType" must be auto|json|text|xml|blob|arraybuffer',
  );
  bad({ retry: 'x' }, 'cometa: option "retry" must be object or number >= 0');
  bad({ retry: { limit: -1 } }, 'cometa: option "retry.limit" must be number >= 0');
  bad({ retry: { methods: 'GET' } }, 'cometa: option "retry.methods" must be object');
  bad({ hooks: { beforeRequest: () => {} } }, 'cometa: option "hooks.beforeRequest" must be object');
  const ok: RequestOptions = {
    method: 'post',
    timeout: 0,
    retry: { limit: 2, delay: 10 },
    hooks: { afterResponse: [] },
    query: 'a=1',
    body: 42,
    withCredentials: undefined,
  };
  assert.equal(validate(ok), ok);
});

test('request() and create() validate before sending anything', async () => {
  await assert.rejects(request('http://127.0.0.1:9/x', { timeout: -5 }), { code: 'ERR_BAD_OPTION' });
  assert.throws(() => create({ baseURL: 5 as unknown as string }), { code: 'ERR_BAD_OPTION' });
  const api = create();
  await assert.rejects(api.get('http://127.0.0.1:9/x', { retry: 'x' as unknown as number }), {
    code: 'ERR_BAD_OPTION',
  });
});

test('merge + toConfig: defaults, baseURL, header names, null removes, hooks concatenated', () => {
  const a = () => {};
  const b = () => {};
  const defaults = merge(
    {},
    { baseURL: 'http://h/api/', headers: { 'X-A': '1', 'X-B': '2' }, hooks: { beforeRequest: [a] } },
  );
  const c = toConfig(
    '/users',
    merge(defaults, {
      headers: { 'x-b': null, 'X-C': '3' },
      hooks: { beforeRequest: [b] },
      timeout: undefined,
    }),
  );
  assert.equal(c.url, 'http://h/api/users');
  assert.deepEqual(c.headers, { 'x-a': '1', 'x-c': '3' });
  assert.deepEqual(c.hooks.beforeRequest, [a, b]);
  assert.equal(c.method, 'GET');
  assert.equal(c.timeout, 0);
  assert.equal(c.responseType, 'auto');
  assert.equal(c.retry.limit, 0);
  assert.equal(c.signal.aborted, false);
  assert.ok(
    c.validateStatus(204) && c.validateStatus(304) && !c.validateStatus(302) && !c.validateStatus(404),
  );
  assert.equal(toConfig('https://other/x', defaults).url, 'https://other/x');
  assert.equal(toConfig('//cdn/x', defaults).url, '//cdn/x');
  assert.equal(toConfig('u', merge({}, { retry: 3, method: 'delete' })).retry.limit, 3);
  assert.deepEqual(toConfig('u', merge({}, { retry: {} })).retry.limit, 2);
});

test('CometaError: code, message prefix, details; guards by brand, across realms', () => {
  const e = new CometaError('ERR_TIMEOUT', 'late', { cause: 'why' });
  assert.ok(e instanceof Error);
  assert.deepEqual(
    [e.name, e.code, e.message, e.cause],
    ['CometaError', 'ERR_TIMEOUT', 'cometa: late', 'why'],
  );
  assert.ok(isCometaError(e) && isCometaError(e, 'ERR_TIMEOUT') && !isCometaError(e, 'ERR_ABORTED'));
  assert.ok(
    isTimeoutError(e) && !isAbortError(e) && !isNetworkError(e) && !isHTTPError(e) && !isParseError(e),
  );
  assert.ok(isJSONPError(new CometaError('ERR_JSONP_NOT_CALLED', 'x')));
  assert.ok(isJSONPError(new CometaError('ERR_JSONP_SCRIPT', 'x')));
  // Another realm: same shape, different prototype chain.
  const foreign = runInNewContext(
    'const e = new Error("cometa: x"); e.name = "CometaError"; e.code = "ERR_ABORTED"; e',
  ) as unknown;
  assert.ok(!(foreign instanceof Error));
  assert.ok(isAbortError(foreign));
  for (const other of [null, undefined, 'CometaError', new Error('x'), { name: 'CometaError' }]) {
    assert.equal(isCometaError(other), false);
  }
});

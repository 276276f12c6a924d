/**
 * The Firehose client (AWS SDK v3) and what its errors mean for a write. The SDK's own retries are
 * off (`maxAttempts 1`): throttling and server faults are retried by the plugin's batch loop, with
 * delays from the shared retry maths, and everything else by BufferedOutput — one place each, no
 * third layer with its own backoff.
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { errorMessage, RetryableError, UnrecoverableError } from '../../../core/errors.js';
import { parseProxyUrl, TunnelingHttpAgent, TunnelingHttpsAgent } from './proxy.js';

const CONNECT_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 60_000;
const MAX_SOCKETS = 50;

export interface ClientOptions {
  region: string | undefined;
  endpoint: string | null;
  sslVerifyPeer: boolean;
  httpProxy: string | null;
  credentials: AwsCredentialIdentityProvider;
  /** SDK wire logging (`debug true`). */
  log: Logger | null;
}

/** Options for the SDK's NodeHttpHandler: keep-alive agents, TLS verification, optional CONNECT proxy. */
export function requestHandlerOptions(proxy: string | null, sslVerifyPeer: boolean): Record<string, unknown> {
  const base = { keepAlive: true, maxSockets: MAX_SOCKETS };
  const tlsOpts = { ...base, rejectUnauthorized: sslVerifyPeer };
  const url = proxy ? parseProxyUrl(proxy) : null;
  return {
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    httpAgent: url ? new TunnelingHttpAgent(url, base, CONNECT_TIMEOUT_MS) : new http.Agent(base),
    httpsAgent: url ? new TunnelingHttpsAgent(url, tlsOpts, CONNECT_TIMEOUT_MS) : new https.Agent(tlsOpts),
  };
}

export function createClient(o: ClientOptions): FirehoseClient {
  const sdkLog = o.log;
  return new FirehoseClient({
    ...(o.region ? { region: o.region } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    credentials: o.credentials,
    maxAttempts: 1,
    requestHandler: requestHandlerOptions(o.httpProxy, o.sslVerifyPeer) as never,
    ...(sdkLog ? {
      logger: {
        debug: (...a: unknown[]) => sdkLog.debug({ sdk: a }, 'aws-sdk'),
        info: (...a: unknown[]) => sdkLog.debug({ sdk: a }, 'aws-sdk'),
        warn: (...a: unknown[]) => sdkLog.warn({ sdk: a }, 'aws-sdk'),
        error: (...a: unknown[]) => sdkLog.error({ sdk: a }, 'aws-sdk'),
      },
    } : {}),
  });
}

/** Whole-call errors the batch loop retries like a partial failure (every record failed with this code). */
const THROTTLED = new Set([
  'ThrottlingException', 'Throttling', 'ThrottledException', 'LimitExceededException', 'TooManyRequestsException',
  'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'SlowDown', 'ServiceUnavailableException',
  'ServiceUnavailable', 'InternalFailure', 'InternalServerError', 'InternalError',
]);

/** The service refused who we are: fixing needs new credentials, which refreshing providers may bring. */
const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignatureException', 'SignatureDoesNotMatch',
  'MissingAuthenticationToken', 'MissingAuthenticationTokenException', 'InvalidClientTokenId', 'ExpiredTokenException',
  'ExpiredToken', 'AccessDeniedException', 'AccessDenied', 'NotAuthorized', 'RequestExpired',
]);

/** Requests that can never succeed as they are. */
const INVALID_REQUEST = new Set(['ValidationException', 'InvalidArgumentException', 'SerializationException']);

interface SdkError {
  name?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
  code?: string;
}

export function errorCode(e: unknown): string {
  const s = e as SdkError;
  return s?.name && s.name !== 'Error' ? s.name : s?.code ?? 'Error';
}

/** True for a whole-call error the batch loop should retry (throttling, 5xx). */
export function isThrottle(e: unknown): boolean {
  const s = e as SdkError;
  const status = s?.$metadata?.httpStatusCode ?? 0;
  return THROTTLED.has(errorCode(e)) || status === 429 || (status >= 500 && status < 600);
}

export interface Where {
  stream: string;
  region: string;
  credentials: string;
}

/**
 * A whole-call error as the write reports it: the stream missing and requests that can never be
 * valid are unrecoverable (the chunk goes to <secondary> or a backup file instead of blocking every
 * other chunk); rejected credentials and everything else are retried by BufferedOutput.
 */
export function writeError(e: unknown, w: Where): Error {
  const code = errorCode(e);
  const msg = errorMessage(e);
  const at = `delivery stream "${w.stream}" in region ${w.region}`;
  if (code === 'ResourceNotFoundException') {
    return new UnrecoverableError(`Firehose ${at} does not exist (ResourceNotFoundException: ${msg}); check delivery_stream_name and region — the chunk is not retried`);
  }
  if (INVALID_REQUEST.has(code)) return new UnrecoverableError(`Firehose refused the request to ${at} as invalid (${code}: ${msg}); the chunk is not retried`);
  if (CREDENTIAL_ERRORS.has(code)) {
    return new RetryableError(`Firehose rejected the credentials from ${w.credentials} for ${at} (${code}: ${msg}); check the keys, role and clock — retrying with refreshed credentials`);
  }
  if (code === 'CredentialsProviderError') return new RetryableError(`no AWS credentials for ${at}: ${msg} (source: ${w.credentials})`);
  return new RetryableError(`PutRecordBatch to ${at} failed (${code}: ${msg})`);
}

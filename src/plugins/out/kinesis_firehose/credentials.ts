/**
 * Where the Firehose output's AWS credentials come from, in aws-fluent-plugin-kinesis' order:
 * static keys → `<assume_role_credentials>` → `<web_identity_credentials>` →
 * `<instance_profile_credentials>` → `<shared_credentials>` → `<process_credentials>` → the SDK's
 * default chain (environment, SSO, shared files, credential_process, web identity/IRSA, ECS/Fargate
 * container role, EC2 instance profile). Every provider but static keys refreshes itself: the SDK
 * client asks again once the credentials are within 5 minutes of their expiry.
 *
 * The provider is wrapped so the log says which one supplied the credentials (never the secret).
 */
import { exec } from 'node:child_process';
import type { Logger } from 'pino';
import {
  fromContainerMetadata, fromIni, fromInstanceMetadata, fromNodeProviderChain, fromTemporaryCredentials, fromTokenFile,
} from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { p, type ParamsOf } from '../../../config/schema.js';

export const credentialParams = {
  aws_key_id: p.string({ default: null, secret: true, desc: 'Static access key id (used only together with aws_sec_key)' }),
  aws_sec_key: p.string({ default: null, secret: true, desc: 'Static secret access key' }),
  aws_ses_token: p.string({ default: null, secret: true, desc: 'Session token of temporary static keys' }),
  assume_role_credentials: p.section({ desc: 'Assume an IAM role with STS (optionally with an external id)' }, {
    role_arn: p.string({ required: true, desc: 'ARN of the role to assume' }),
    role_session_name: p.string({ required: true, desc: 'Session name recorded by STS' }),
    policy: p.string({ default: null, desc: 'Inline session policy (JSON)' }),
    duration_seconds: p.integer({ default: null, min: 900, max: 43200, desc: 'Lifetime of the role credentials' }),
    external_id: p.string({ default: null, secret: true, desc: 'External id the role\'s trust policy requires' }),
    sts_http_proxy: p.string({ default: null, secret: true, desc: 'Proxy URL for STS calls' }),
    sts_endpoint_url: p.string({ default: null, desc: 'STS endpoint (regional STS, PrivateLink)' }),
    sts_region: p.string({ default: null, desc: 'Region of the STS endpoint (default: region)' }),
  }),
  web_identity_credentials: p.section({ desc: 'Assume a role with a web identity token file (EKS IRSA)' }, {
    role_arn: p.string({ required: true, desc: 'ARN of the role to assume' }),
    role_session_name: p.string({ required: true, desc: 'Session name recorded by STS' }),
    web_identity_token_file: p.string({ required: true, desc: 'File holding the OIDC token' }),
    policy: p.string({ default: null, desc: 'Inline session policy (JSON)' }),
    duration_seconds: p.integer({ default: null, min: 900, max: 43200, desc: 'Lifetime of the role credentials' }),
    sts_endpoint_url: p.string({ default: null, desc: 'logferry: STS endpoint (regional STS, PrivateLink)' }),
  }),
  instance_profile_credentials: p.section({ desc: 'EC2 instance profile (IMDS); ECS container credentials when AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set' }, {
    retries: p.integer({ default: 5, min: 0, desc: 'Retries of the metadata request' }),
    ip_address: p.string({ default: '169.254.169.254', desc: 'Metadata service address' }),
    port: p.integer({ default: 80, min: 1, max: 65535, desc: 'Metadata service port' }),
    http_open_timeout: p.float({ default: 5, min: 0, desc: 'Seconds to connect' }),
    http_read_timeout: p.float({ default: 5, min: 0, desc: 'Seconds to read (the SDK has one timeout: the larger is used)' }),
  }),
  shared_credentials: p.section({ desc: 'A profile of the shared credentials file' }, {
    path: p.string({ default: null, desc: 'Credentials file (default ~/.aws/credentials)' }),
    profile_name: p.string({ default: null, desc: 'Profile (default AWS_PROFILE or default)' }),
  }),
  process_credentials: p.section({ desc: 'Run a command that prints credentials as JSON (credential_process format)' }, {
    process: p.string({ required: true, desc: 'The command (run by the shell)' }),
  }),
};

export type CredentialConfig = ParamsOf<typeof credentialParams>;

export interface CredentialDeps {
  region: string | undefined;
  log: Logger;
  /** STS client request handler options (proxy, TLS), when the section does not give its own. */
  stsRequestHandler?: (proxy: string | null) => unknown;
}

/** A provider plus the name of where its credentials come from (for logs and error messages). */
export interface Credentials {
  provider: AwsCredentialIdentityProvider;
  /** The configured source; the default chain's actual source is known after the first resolution. */
  describe(): string;
}

/** `$source` feature keys the SDK puts on credentials → what an operator calls them. First match wins. */
const SOURCES: Array<[string, string]> = [
  ['CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN', 'web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, e.g. EKS IRSA)'],
  ['CREDENTIALS_PROFILE_STS_WEB_ID_TOKEN', 'web identity token file of the shared config profile'],
  ['CREDENTIALS_PROFILE_SOURCE_PROFILE', 'shared config profile (role_arn + source_profile)'],
  ['CREDENTIALS_PROFILE_NAMED_PROVIDER', 'shared config profile (role_arn + credential_source)'],
  ['CREDENTIALS_PROFILE_PROCESS', 'credential_process of the shared config profile'],
  ['CREDENTIALS_PROFILE_SSO', 'SSO (shared config profile)'],
  ['CREDENTIALS_PROFILE_SSO_LEGACY', 'SSO (shared config profile)'],
  ['CREDENTIALS_SSO', 'SSO'],
  ['CREDENTIALS_PROFILE_LOGIN', 'console login (shared config profile)'],
  ['CREDENTIALS_PROFILE', 'shared credentials/config file profile'],
  ['CREDENTIALS_ENV_VARS', 'environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)'],
  ['CREDENTIALS_HTTP', 'container credentials endpoint (ECS/Fargate task role, EKS Pod Identity)'],
  ['CREDENTIALS_IMDS', 'EC2 instance profile (IMDS)'],
  ['CREDENTIALS_STS_ASSUME_ROLE_WEB_ID', 'STS AssumeRoleWithWebIdentity'],
  ['CREDENTIALS_STS_ASSUME_ROLE', 'STS AssumeRole'],
];

export function sourceOf(c: AwsCredentialIdentity): string | null {
  const s = (c as { $source?: Record<string, unknown> }).$source;
  if (!s) return null;
  return SOURCES.find(([k]) => k in s)?.[1] ?? null;
}

/** `AKIA…WXYZ`: enough to tell keys apart, never the secret. */
export function maskKeyId(id: string): string {
  return id.length <= 8 ? '****' : `${id.slice(0, 4)}…${id.slice(-4)}`;
}

interface ProcessOutput {
  Version?: number;
  AccessKeyId?: string;
  SecretAccessKey?: string;
  SessionToken?: string;
  Expiration?: string;
}

/** `<process_credentials>`: runs the command each time the credentials are needed (the SDK caches them until near expiry). */
export function fromCommand(command: string, timeoutMs = 30000): AwsCredentialIdentityProvider {
  return () => new Promise((resolve, reject) => {
    exec(command, { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(new Error(`process_credentials: ${JSON.stringify(command)} failed: ${err.message.trim()}`));
      let out: ProcessOutput;
      try {
        out = JSON.parse(stdout) as ProcessOutput;
      } catch {
        return reject(new Error(`process_credentials: ${JSON.stringify(command)} did not print JSON`));
      }
      if (out.Version !== 1 || !out.AccessKeyId || !out.SecretAccessKey) {
        return reject(new Error(`process_credentials: ${JSON.stringify(command)} must print {"Version":1,"AccessKeyId":…,"SecretAccessKey":…}`));
      }
      const expiration = out.Expiration ? new Date(out.Expiration) : undefined;
      if (expiration && Number.isNaN(expiration.getTime())) return reject(new Error(`process_credentials: bad Expiration ${JSON.stringify(out.Expiration)}`));
      resolve({ accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey, sessionToken: out.SessionToken, expiration });
    });
  });
}

function configured(c: CredentialConfig, deps: CredentialDeps): { provider: AwsCredentialIdentityProvider; name: string | null } {
  if (c.aws_key_id && c.aws_sec_key) {
    const creds = { accessKeyId: c.aws_key_id, secretAccessKey: c.aws_sec_key, ...(c.aws_ses_token ? { sessionToken: c.aws_ses_token } : {}) };
    return { provider: async () => creds, name: 'static keys (aws_key_id / aws_sec_key)' };
  }
  const ar = c.assume_role_credentials;
  if (ar) {
    const handler = deps.stsRequestHandler?.(ar.sts_http_proxy);
    const provider = fromTemporaryCredentials({
      params: {
        RoleArn: ar.role_arn, RoleSessionName: ar.role_session_name,
        ...(ar.policy ? { Policy: ar.policy } : {}),
        ...(ar.duration_seconds ? { DurationSeconds: ar.duration_seconds } : {}),
        ...(ar.external_id ? { ExternalId: ar.external_id } : {}),
      },
      // the role's own credentials come from the SDK default chain, as in the Ruby plugin
      masterCredentials: fromNodeProviderChain(),
      clientConfig: {
        region: ar.sts_region ?? deps.region,
        ...(ar.sts_endpoint_url ? { endpoint: ar.sts_endpoint_url } : {}),
        ...(handler ? { requestHandler: handler as never } : {}),
        maxAttempts: 3,
      },
    }) as AwsCredentialIdentityProvider;
    return { provider, name: `assume_role_credentials (${ar.role_arn}${ar.external_id ? ', with external_id' : ''})` };
  }
  const wi = c.web_identity_credentials;
  if (wi) {
    const provider = fromTokenFile({
      webIdentityTokenFile: wi.web_identity_token_file, roleArn: wi.role_arn, roleSessionName: wi.role_session_name,
      ...(wi.policy ? { policy: wi.policy } : {}),
      ...(wi.duration_seconds ? { durationSeconds: wi.duration_seconds } : {}),
      clientConfig: { region: deps.region, ...(wi.sts_endpoint_url ? { endpoint: wi.sts_endpoint_url } : {}) },
    }) as AwsCredentialIdentityProvider;
    return { provider, name: `web_identity_credentials (${wi.role_arn})` };
  }
  const ip = c.instance_profile_credentials;
  if (ip) {
    const init = { maxRetries: ip.retries, timeout: Math.max(ip.http_open_timeout, ip.http_read_timeout) * 1000 };
    if (process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return { provider: fromContainerMetadata(init), name: 'instance_profile_credentials (ECS container credentials)' };
    if (ip.ip_address !== '169.254.169.254' || ip.port !== 80) {
      // the SDK takes the IMDS address only from the environment (process-wide)
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT ??= `http://${ip.ip_address.includes(':') ? `[${ip.ip_address}]` : ip.ip_address}:${ip.port}`;
    }
    return { provider: fromInstanceMetadata(init), name: 'instance_profile_credentials (EC2 IMDS)' };
  }
  const sh = c.shared_credentials;
  if (sh) {
    const provider = fromIni({ ...(sh.path ? { filepath: sh.path } : {}), ...(sh.profile_name ? { profile: sh.profile_name } : {}) });
    return { provider, name: `shared_credentials (profile ${sh.profile_name ?? process.env.AWS_PROFILE ?? 'default'}${sh.path ? ` in ${sh.path}` : ''})` };
  }
  const pr = c.process_credentials;
  if (pr) return { provider: fromCommand(pr.process), name: 'process_credentials' };
  return { provider: fromNodeProviderChain(), name: null };
}

/** The provider to hand the SDK, logging (info) which source supplied credentials the first time and whenever it changes. */
export function buildCredentials(c: CredentialConfig, deps: CredentialDeps): Credentials {
  const { provider: inner, name } = configured(c, deps);
  let lastSource: string | null = null;
  let lastKey: string | null = null;
  const describe = () => name ?? (lastSource ? `SDK default chain: ${lastSource}` : 'SDK default chain');
  const provider: AwsCredentialIdentityProvider = async (props) => {
    const creds = await inner(props);
    const source = name ?? `SDK default chain: ${sourceOf(creds) ?? 'unknown provider'}`;
    const key = maskKeyId(creds.accessKeyId);
    if (source !== lastSource) {
      deps.log.info({ provider: source, access_key_id: key, expiration: creds.expiration?.toISOString() ?? null }, 'AWS credentials loaded');
    } else if (key !== lastKey) {
      deps.log.debug({ provider: source, access_key_id: key, expiration: creds.expiration?.toISOString() ?? null }, 'AWS credentials refreshed');
    }
    lastSource = source;
    lastKey = key;
    return creds;
  };
  return { provider, describe };
}

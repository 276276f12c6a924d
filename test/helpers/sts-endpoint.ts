/**
 * STS `AssumeRole` and `AssumeRoleWithWebIdentity` (query protocol, XML answers) for the local
 * Firehose endpoint: a role may require an external id (the role-delegation setup of the seed post)
 * or a web identity token, and hands out credentials that expire after `ttlSec` — short on purpose,
 * so tests see them refreshed.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export interface Role {
  arn: string;
  /** When set, AssumeRole must carry exactly this ExternalId. */
  externalId?: string;
  /** Lifetime of the issued credentials (real STS: ≥ 900 s). */
  ttlSec: number;
  /** When set, AssumeRoleWithWebIdentity (unsigned) must carry this token (EKS IRSA, GitHub OIDC …). */
  webIdentityToken?: string;
}

export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function send(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomBytes(16).toString('hex'), 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

export function stsError(res: ServerResponse, status: number, code: string, message: string): void {
  // STS spells the signature errors of JSON services differently
  const c = code === 'InvalidSignatureException' ? 'SignatureDoesNotMatch' : code === 'UnrecognizedClientException' ? 'InvalidClientTokenId' : code;
  send(res, status, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${c}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${randomBytes(16).toString('hex')}</RequestId></ErrorResponse>`);
}

/** `AssumeRole` (signed by the caller's keys) or `AssumeRoleWithWebIdentity` (unsigned: the token is the proof). */
export function assumeRole(res: ServerResponse, q: URLSearchParams, roles: Map<string, Role>, issue: (ttlSec: number) => IssuedCredentials): void {
  const action = q.get('Action');
  if (action !== 'AssumeRole' && action !== 'AssumeRoleWithWebIdentity') return stsError(res, 400, 'InvalidAction', `Could not find operation ${action ?? ''} for version 2011-06-15`);
  const arn = q.get('RoleArn') ?? '';
  const session = q.get('RoleSessionName') ?? '';
  const role = roles.get(arn);
  if (action === 'AssumeRoleWithWebIdentity') {
    if (!role?.webIdentityToken || q.get('WebIdentityToken') !== role.webIdentityToken) {
      return stsError(res, 400, 'InvalidIdentityToken', 'Incorrect token audience or the token is not valid for this role');
    }
  } else if (!role || (role.externalId !== undefined && q.get('ExternalId') !== role.externalId)) {
    return stsError(res, 403, 'AccessDenied', `User: arn:aws:iam::123456789012:user/logferry-test is not authorized to perform: sts:AssumeRole on resource: ${arn}`);
  }
  const c = issue(role.ttlSec);
  send(res, 200, `<${action}Response xmlns="${NS}"><${action}Result>`
    + `<Credentials><AccessKeyId>${c.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(c.secretAccessKey)}</SecretAccessKey>`
    + `<SessionToken>${xmlEscape(c.sessionToken)}</SessionToken><Expiration>${c.expiration.toISOString()}</Expiration></Credentials>`
    + `<AssumedRoleUser><AssumedRoleId>AROATEST:${xmlEscape(session)}</AssumedRoleId><Arn>${xmlEscape(arn.replace(':role/', ':assumed-role/'))}/${xmlEscape(session)}</Arn></AssumedRoleUser>`
    + `</${action}Result><ResponseMetadata><RequestId>${randomBytes(16).toString('hex')}</RequestId></ResponseMetadata></${action}Response>`);
}

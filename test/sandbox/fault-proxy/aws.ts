import type { IncomingHttpHeaders } from 'node:http';

/**
 * How the AWS SDK talked to the emulator, recognised from the request alone, so a fault can be
 * answered in the protocol the SDK parses (and its retry strategy classifies) for that service:
 *
 * - awsJson 1.0/1.1 (ECS, ACM, SSM, CloudWatch): `X-Amz-Target: <Prefix>.<Operation>`; errors are
 *   JSON with `__type`, plus `x-amzn-query-error` for query-compatible services (CloudWatch);
 * - awsQuery / ec2Query (CloudFormation, RDS, ELBv2, STS, IAM, EC2): form body `Action=<Op>`;
 *   errors are `<ErrorResponse><Error><Code>` XML (EC2 `<Response><Errors><Error>`);
 * - restXml (Route 53, S3): method and path; errors are `<ErrorResponse><Error>` / `<Error>` XML.
 */
export type AwsProtocol = 'json' | 'query' | 'ec2' | 'rest-xml';

export interface AwsRequest {
  service: string;
  action: string;
  protocol: AwsProtocol;
}

/** The signing name from SigV4's credential scope: `Credential=AKID/date/region/<service>/aws4_request`. */
export function signingService(headers: IncomingHttpHeaders): string {
  const auth = headers.authorization ?? '';
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(auth)?.[1] ?? 'unknown';
}

export function classifyAwsRequest(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): AwsRequest {
  const service = signingService(headers);
  const target = headers['x-amz-target'];
  if (typeof target === 'string') return { service, action: target.slice(target.lastIndexOf('.') + 1), protocol: 'json' };
  const contentType = headers['content-type'] ?? '';
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? 'unknown';
    return { service, action, protocol: service === 'ec2' ? 'ec2' : 'query' };
  }
  // REST: no operation name on the wire; method and the path's shape stand in for it.
  const shape = path.split('?')[0]!.replace(/\/[A-Z0-9]{8,}(?=\/|$)/g, '/{id}');
  return { service, action: `${method} ${shape}`, protocol: 'rest-xml' };
}

export interface AwsErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A throttling answer exactly as the service would send it, so the SDK's throttling backoff engages. */
export function awsThrottle(request: AwsRequest, requestId: string): AwsErrorAnswer {
  // JSON services say ThrottlingException, query services Throttling; S3 says SlowDown with 503.
  if (request.service === 's3') return xmlError(503, '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>' + requestId + '</RequestId></Error>', requestId);
  return awsError(request, requestId, { status: 400, jsonType: 'ThrottlingException', queryCode: 'Throttling', message: 'Rate exceeded', fault: 'Sender' });
}

/** A server-side failure (503 ServiceUnavailable), which the SDK retries as transient. */
export function awsServerError(request: AwsRequest, requestId: string): AwsErrorAnswer {
  if (request.service === 's3') return xmlError(503, '<Error><Code>ServiceUnavailable</Code><Message>Service is unable to handle request.</Message><RequestId>' + requestId + '</RequestId></Error>', requestId);
  return awsError(request, requestId, { status: 503, jsonType: 'ServiceUnavailableException', queryCode: 'ServiceUnavailable', message: 'Service is unavailable', fault: 'Receiver' });
}

function awsError(
  request: AwsRequest,
  requestId: string,
  e: { status: number; jsonType: string; queryCode: string; message: string; fault: 'Sender' | 'Receiver' },
): AwsErrorAnswer {
  switch (request.protocol) {
    case 'json':
      return {
        status: e.status,
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-requestid': requestId,
          'x-amzn-errortype': `${e.jsonType}:`,
          // Query-compatible JSON services (CloudWatch) take the code from this header.
          'x-amzn-query-error': `${e.queryCode};${e.fault}`,
        },
        body: JSON.stringify({ __type: e.jsonType, message: e.message }),
      };
    case 'ec2':
      return xmlError(e.status, `<Response><Errors><Error><Code>${e.queryCode === 'Throttling' ? 'RequestLimitExceeded' : 'Unavailable'}</Code><Message>${e.message}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`, requestId);
    case 'query':
    case 'rest-xml':
      return xmlError(
        e.status,
        `<ErrorResponse><Error><Type>${e.fault}</Type><Code>${e.queryCode}</Code><Message>${e.message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        requestId,
      );
  }
}

function xmlError(status: number, xml: string, requestId: string): AwsErrorAnswer {
  return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${xml}` };
}

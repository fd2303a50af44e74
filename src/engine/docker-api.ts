// Read-only requests to the Docker Engine API, without dockerode. A no-op deploy only reads (lists
// and inspects), and loading dockerode (with the gRPC, protobuf and SSH modules it pulls in for
// BuildKit sessions and its own SSH transport) costs about a quarter of a second at every start, as
// much as the whole reconcile. Writes, exec, logs and builds still go through it.
import { request as httpRequest, type Agent, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * Where a host's engine answers: this machine's unix socket; an http.Agent whose createConnection
 * opens a stream to the engine some other way (a channel of a host's SSH connection); or Docker's
 * TCP API, with TLS unless on loopback, through a keep-alive agent (an https.Agent carrying the
 * client certificate). dockerode and DockerApi both take it, so reads and writes share the transport.
 */
export type DockerEndpoint = { socketPath: string } | { agent: Agent } | { tcp: TcpEndpoint };

export interface TcpEndpoint {
  host: string;
  port: number;
  /** Docker's --tlsverify material (ca.pem, cert.pem, key.pem); none only on loopback. */
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** Keep-alive connections, reused across requests (an https.Agent with the TLS material). */
  agent: Agent;
}

/** The request options that reach an endpoint (the host name is only a label for an agent's requests). */
export function endpointOptions(endpoint: DockerEndpoint): RequestOptions {
  if ('socketPath' in endpoint) return { socketPath: endpoint.socketPath };
  if ('tcp' in endpoint) return { agent: endpoint.tcp.agent, host: endpoint.tcp.host, port: endpoint.tcp.port };
  return { agent: endpoint.agent, host: 'docker', port: 80 };
}

/** http.request, or https.request for a TLS endpoint. */
export function endpointRequest(endpoint: DockerEndpoint, options: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
  const send = 'tcp' in endpoint && endpoint.tcp.tls ? httpsRequest : httpRequest;
  return send({ ...endpointOptions(endpoint), ...options }, onResponse);
}

export class DockerApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

export class DockerApi {
  /** Requests made, for the benchmark's count of API calls. */
  requests = 0;

  constructor(
    private readonly endpoint: DockerEndpoint,
    /** A transport failure as the host's transport names it (a TCP host: unreachable). */
    private readonly transportError: (err: Error) => Error = (err) => err,
  ) {}

  /** GET a JSON document; undefined for 404 (no such object). */
  async get<T>(path: string, query: Record<string, string> = {}): Promise<T | undefined> {
    const qs = new URLSearchParams(query).toString();
    this.requests++;
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = endpointRequest(this.endpoint, { path: qs ? `${path}?${qs}` : path, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (err) => reject(this.transportError(err)));
      req.end();
    });
    if (status === 404) return undefined;
    if (status < 200 || status >= 300) {
      let message = body.trim();
      try {
        message = (JSON.parse(body) as { message?: string }).message ?? message;
      } catch {
        // Not JSON: the raw text is the message.
      }
      throw new DockerApiError(`Docker Engine: GET ${path}: ${status} ${message}`, status);
    }
    return JSON.parse(body) as T;
  }
}

// Read-only requests to the Docker Engine API, without dockerode. A no-op deploy only reads (lists
// and inspects), and loading dockerode (with the gRPC, protobuf and SSH modules it pulls in for
// BuildKit sessions and its own SSH transport) costs about a quarter of a second at every start, as
// much as the whole reconcile. Writes, exec, logs and builds still go through it.
import { request, type Agent, type RequestOptions } from 'node:http';

/**
 * Where a host's engine answers: this machine's unix socket, or an http.Agent whose
 * createConnection opens a stream to the engine some other way (a channel of a host's SSH
 * connection). dockerode and DockerApi both take it, so reads and writes share the transport.
 */
export type DockerEndpoint = { socketPath: string } | { agent: Agent };

/** The request options that reach an endpoint (the host name is only a label for an agent's requests). */
export function endpointOptions(endpoint: DockerEndpoint): RequestOptions {
  return 'socketPath' in endpoint ? { socketPath: endpoint.socketPath } : { agent: endpoint.agent, host: 'docker', port: 80 };
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

  constructor(private readonly endpoint: DockerEndpoint) {}

  /** GET a JSON document; undefined for 404 (no such object). */
  async get<T>(path: string, query: Record<string, string> = {}): Promise<T | undefined> {
    const qs = new URLSearchParams(query).toString();
    this.requests++;
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ ...endpointOptions(this.endpoint), path: qs ? `${path}?${qs}` : path, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
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

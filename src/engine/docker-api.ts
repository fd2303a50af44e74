// Read-only requests to the Docker Engine API over its socket, without dockerode. A no-op deploy
// only reads (lists and inspects), and loading dockerode (with the gRPC, protobuf and SSH modules it
// pulls in for BuildKit sessions and its own SSH transport) costs about a quarter of a second at
// every start, as much as the whole reconcile. Writes, exec, logs and builds still go through it.
import { request } from 'node:http';

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

  constructor(private readonly socketPath: string) {}

  /** GET a JSON document; undefined for 404 (no such object). */
  async get<T>(path: string, query: Record<string, string> = {}): Promise<T | undefined> {
    const qs = new URLSearchParams(query).toString();
    this.requests++;
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: qs ? `${path}?${qs}` : path, method: 'GET' }, (res) => {
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

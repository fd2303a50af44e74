// The progress of one image pull, from the JSON events of POST /images/create: layers seen, done,
// bytes downloaded of the known total, and the outcome. Pure, so the parsing is tested without Docker.

export interface PullEvent {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

export interface PullSnapshot {
  layers: number;
  layersDone: number;
  bytesDone: number;
  /** Sum of the sizes Docker has announced so far (a layer's size is known once it downloads). */
  bytesTotal: number;
}

interface Layer {
  done: boolean;
  current: number;
  total: number;
}

export class PullProgress {
  private readonly layers = new Map<string, Layer>();
  /** The engine's failure, when the stream reported one (the HTTP status was still 200). */
  error?: string;
  /** `Image is up to date`: nothing was downloaded. */
  upToDate = false;
  digest?: string;

  /** Takes one event; returns true when it changed what a snapshot shows. */
  feed(ev: PullEvent): boolean {
    if (ev.error !== undefined || ev.errorDetail !== undefined) {
      this.error = ev.errorDetail?.message ?? ev.error;
      return true;
    }
    const status = ev.status ?? '';
    if (status.startsWith('Status: Image is up to date')) this.upToDate = true;
    const digest = /^Digest: (sha256:[0-9a-f]+)/.exec(status);
    if (digest) this.digest = digest[1];
    // Layer events carry a 12-character id; "Pulling from ..." carries the tag instead.
    if (!ev.id || !/^[0-9a-f]{12}$/.test(ev.id)) return false;
    const layer = this.layers.get(ev.id) ?? { done: false, current: 0, total: 0 };
    this.layers.set(ev.id, layer);
    switch (status) {
      case 'Downloading':
        layer.current = ev.progressDetail?.current ?? layer.current;
        layer.total = ev.progressDetail?.total ?? layer.total;
        break;
      case 'Download complete':
      case 'Verifying Checksum':
        if (layer.total) layer.current = layer.total;
        break;
      case 'Pull complete':
      case 'Already exists':
        layer.done = true;
        if (layer.total) layer.current = layer.total;
        break;
      default:
        // Pulling fs layer, Waiting, Extracting: the layer is known, nothing else changes.
        break;
    }
    return true;
  }

  snapshot(): PullSnapshot {
    const all = [...this.layers.values()];
    return {
      layers: all.length,
      layersDone: all.filter((l) => l.done).length,
      bytesDone: all.reduce((n, l) => n + l.current, 0),
      bytesTotal: all.reduce((n, l) => n + l.total, 0),
    };
  }
}

import type { Position } from '@beecastle/event-store';
import { ACCESS_PROJECTION, type CheckpointWait } from '@beecastle/read-model';

/**
 * Read-your-writes for organisation changes: a handler answers only once the `access` read model
 * (which authentication reads on every request, on every instance) reflects what it appended, so
 * a deactivation, role change or revocation bites on the very next request.
 */
export abstract class AccessProjectionWait {
  abstract until(position: Position): Promise<void>;
}

export class CheckpointAccessProjectionWait extends AccessProjectionWait {
  constructor(private readonly checkpoints: CheckpointWait) {
    super();
  }

  until(position: Position): Promise<void> {
    return this.checkpoints.until(ACCESS_PROJECTION, position);
  }
}

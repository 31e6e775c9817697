// The audit stream: one JSON line per event, from a pino logger of its own marked `"logger":"audit"`, so a log
// pipeline can route these lines apart from the request log. It is written whatever log.level says, to stdout
// (beside the other logs) or to a file of its own (`audit.file`, appended to).
import pino, { type Logger } from 'pino';
import type { AuditEvent } from './event.ts';

export const AUDIT_LOGGER_NAME = 'audit';

export class AuditLog {
  private readonly logger: Logger;
  private readonly destination: ReturnType<typeof pino.destination>;
  /** stdout belongs to the process; only a file of its own is closed */
  private readonly ownsDestination: boolean;

  /** `file` unset: stdout */
  constructor(options: { file?: string; service?: string }) {
    // synchronous writes, as the request log's: a line is out before the next event, and none is lost on exit
    this.ownsDestination = options.file !== undefined;
    this.destination = pino.destination({ dest: options.file ?? 1, sync: true, append: true, mkdir: options.file !== undefined });
    this.logger = pino({
      level: 'info',
      base: { ...(options.service ? { service: options.service } : {}), logger: AUDIT_LOGGER_NAME },
      // the event carries its own ISO time; a second, numeric one would only confuse readers
      timestamp: false,
    }, this.destination);
  }

  write(event: AuditEvent): void {
    this.logger.info(event, event.action);
  }

  close(): void {
    if (this.ownsDestination) this.destination.end();
  }
}

// A backup or restore that cannot go on, for a reason its operator must see: a missing or corrupt source blob, a
// store that is not empty, a snapshot that does not exist. The admin API answers it with its message.
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

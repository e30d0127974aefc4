/** Where the concerns say what they would have done in a dry run (src/run/dry-run.ts keeps and prints it). */
export interface DryRunNotes {
  /** One step that was not taken, in words: "add learner ... to cluster ...". */
  note(line: string): void;
}

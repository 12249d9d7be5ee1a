import { UserError } from './errors.ts';

/**
 * A typed name -> value registry that refuses duplicates, for plug-ins (backbones, objectives,
 * samplers, metrics, augmentations). Adding a plug-in is one file plus one `register` line.
 */
export class Registry<T> {
  private readonly items = new Map<string, T>();
  constructor(readonly kind: string) {}

  /** Registers `value` under `name`; throws if the name is taken. */
  register(name: string, value: T): void {
    if (this.items.has(name)) throw new Error(`${this.kind} "${name}" is already registered`);
    this.items.set(name, value);
  }

  /** The plug-in registered as `name`; a clear error lists the known names otherwise. */
  get(name: string): T {
    const v = this.items.get(name);
    if (v === undefined) {
      throw new RegistryLookupError(`Unknown ${this.kind} "${name}". Known: ${this.names().join(', ') || '(none)'}.`);
    }
    return v;
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  /** Names, sorted (messages and help). */
  names(): string[] {
    return [...this.items.keys()].sort();
  }

  /** Names in registration order (the order of reports and of default selections). */
  inOrder(): string[] {
    return [...this.items.keys()];
  }
}

/** Thrown for an unknown plug-in name (a user error: a recipe or flag named it; exit code 2). */
export class RegistryLookupError extends UserError {}

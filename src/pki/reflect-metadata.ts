/**
 * @peculiar/x509 uses tsyringe, which refuses to load without a Reflect metadata polyfill (`reflect-metadata`, not a
 * dependency here). tsyringe only needs getMetadata/getOwnMetadata/defineMetadata; this is that much of the
 * reflect-metadata API, installed only when no polyfill is present. Imported by ./x509.ts before the library.
 */
type Key = string | symbol | undefined;
const store = new WeakMap<object, Map<Key, Map<unknown, unknown>>>();

function table(target: object, prop: Key, create: boolean): Map<unknown, unknown> | undefined {
  let byProp = store.get(target);
  if (!byProp) {
    if (!create) return undefined;
    byProp = new Map();
    store.set(target, byProp);
  }
  let t = byProp.get(prop);
  if (!t && create) {
    t = new Map();
    byProp.set(prop, t);
  }
  return t;
}

const api = {
  defineMetadata(key: unknown, value: unknown, target: object, prop?: string | symbol): void {
    table(target, prop, true)!.set(key, value);
  },
  hasOwnMetadata(key: unknown, target: object, prop?: string | symbol): boolean {
    return table(target, prop, false)?.has(key) ?? false;
  },
  getOwnMetadata(key: unknown, target: object, prop?: string | symbol): unknown {
    return table(target, prop, false)?.get(key);
  },
  hasMetadata(key: unknown, target: object, prop?: string | symbol): boolean {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      if (api.hasOwnMetadata(key, t, prop)) return true;
    }
    return false;
  },
  getMetadata(key: unknown, target: object, prop?: string | symbol): unknown {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const m = table(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  },
  metadata(key: unknown, value: unknown) {
    return (target: object, prop?: string | symbol): void => api.defineMetadata(key, value, target, prop);
  },
};

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  for (const [name, fn] of Object.entries(api)) {
    if (typeof R[name] !== 'function') Object.defineProperty(Reflect, name, { value: fn, configurable: true, writable: true });
  }
}

export {};

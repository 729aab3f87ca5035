// The workflow bundle's preloaded module (src/workers/bundle.ts): loads zod into the reusable V8
// context once, for every workflow. Building one schema here also makes zod set up its global
// config (default locale, memoizer), which it otherwise does lazily at the first schema; after
// the preload the SDK freezes the shared modules, and a lazy write to them would throw. A bare
// `import 'zod'` would not do: zod declares itself free of side effects, and the bundler drops it.
import { z } from 'zod';

export const zodLoaded = z.object({ loaded: z.boolean() }).parse({ loaded: true }).loaded;

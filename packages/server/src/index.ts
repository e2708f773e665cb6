export { type AppDeps, buildApp, type Services } from './app.js';
export { type Clock, manualClock, systemClock } from './clock.js';
export { type Config, loadConfig } from './config.js';
export { type DatabaseTarget, databaseTarget, openDatabase } from './db/database.js';
export { migrateToLatest } from './db/migrate.js';
export { createKeymaster, type Keymaster } from './runtime.js';
export { version } from './version.js';

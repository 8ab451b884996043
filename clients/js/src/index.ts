export * from './messages.js';
export * from './store.js';
export * from './rest.js';
export * from './client.js';

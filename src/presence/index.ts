/** Presence bodies (issue 8): pure codecs, no I/O. */
export * from './state.js';
export * from './pidf.js';
export * from './multipart.js';
export * from './rlmi.js';
export * from './contacts.js';
export * from './categories.js';
export { MAX_XML_BODY } from '../xml.js';

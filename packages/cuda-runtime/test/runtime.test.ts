import { describe, it } from 'vitest';
import { defineRuntimeSuite } from './runtime.suite.js';

defineRuntimeSuite({ describe, it });

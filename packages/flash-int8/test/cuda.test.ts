import { describe, it } from 'vitest';
import { defineCudaSuite } from './cuda.suite.js';

defineCudaSuite({ describe, it });

import { describe, it } from 'vitest';
import { defineTurboCudaSuite } from './cuda.suite.js';

defineTurboCudaSuite({ describe, it });

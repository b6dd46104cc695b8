import { describe, it } from 'vitest';
import { defineKVCacheCudaSuite } from './cuda.suite.js';

defineKVCacheCudaSuite({ describe, it });

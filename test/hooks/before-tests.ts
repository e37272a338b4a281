// tap runs this once before all test files: the shared cluster is up, and this run holds it.
import { runClusterPhase } from './cluster-phase.ts';

runClusterPhase('begin');

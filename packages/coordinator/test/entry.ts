/** The package as the tests use it (helpers first: it points the cache at a temp dir before anything reads it). */
import "./helpers";
export * from "../src/index";
export { formatExplanation as formatExplanationForTest } from "../src/cli";

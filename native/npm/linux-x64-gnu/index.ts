/**
 * The path of the prebuilt libferry in this package. `with { type: "file" }`
 * makes `bun build --compile` embed the library in the executable (the path
 * is then under /$bunfs, which bun:ffi's dlopen opens).
 */
import path from "./libferry.so" with { type: "file" };

export default path;
export { path };

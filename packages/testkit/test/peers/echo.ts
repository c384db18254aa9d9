/** Test peer: emits its config back, then "bye" once stdin says "go". */
import { cfg, emit, waitLine } from "@ferry/testkit/peer";

emit("cfg", { cfg });
await waitLine("go");
emit("result", { bye: true });

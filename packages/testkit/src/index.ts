/**
 * @ferry/testkit: what Ferry's test files share. Peer processes (spawnPeer,
 * peerSpawner; the script side is the "@ferry/testkit/peer" subpath), unique
 * channel names and the suite cleanup that checks /dev/shm, payload patterns
 * both processes can check byte by byte, FerryError assertions, /proc helpers,
 * a raw C-API publisher, a private calibration cache, and two hosts on one machine (network + mount
 * namespaces) for tests that cross a network.
 */
export { Peer, type PeerMsg, killAllPeers, peerSpawner, resolvePeerScript, spawnPeer } from "./spawn";
export { SHM, listFerryShm, shmExists, shmPath, uniqueName } from "./shm";
export { registerCleanup } from "./cleanup";
export { expectFerryError, expectFerryRejection, type FerryErrorLike } from "./errors";
export { cpuTicks, sleep } from "./proc";
export * from "./pattern";
export { TwoHosts, twoHostsUnavailable } from "./hosts";
export { RawPublisher, type HandleLike } from "./raw";
export { privateCalibrationCache } from "./cache";

// The demo image berth makes itself, so a new cloud needs no download: a raw disk whose first
// sector is a real x86 master boot record. A BIOS (or QEMU) boots it; it prints a line and halts.
// Its partition table has one partition over the rest of the disk: nova 2024.1 and later inspect
// an image before they boot it and refuse a boot record with no partition (oslo.utils' format
// inspector takes it for a GPT disk's protective MBR).
const MESSAGE = 'berth demo disk: booted. Nothing else to do here.\r\n';

export function bootDisk(sizeBytes = 1024 * 1024): Buffer {
  const disk = Buffer.alloc(sizeBytes);
  // 16-bit real mode at 0x7c00: print MESSAGE with BIOS teletype (int 10h, ah=0eh), then halt.
  const code = Buffer.from([
    0xfa, // cli
    0x31, 0xc0, // xor ax, ax
    0x8e, 0xd8, // mov ds, ax
    0xbe, 0x00, 0x00, // mov si, <message>   (patched below)
    0xb4, 0x0e, // mov ah, 0x0e
    0xac, // .next: lodsb
    0x84, 0xc0, // test al, al
    0x74, 0x04, // jz .halt
    0xcd, 0x10, // int 0x10
    0xeb, 0xf7, // jmp .next
    0xf4, // .halt: hlt
    0xeb, 0xfd, // jmp .halt
  ]);
  const messageAt = 0x7c00 + code.length;
  code.writeUInt16LE(messageAt, 6);
  code.copy(disk, 0);
  Buffer.from(MESSAGE + '\0', 'ascii').copy(disk, code.length);
  // Partition 1: active, type 0x83, LBA 1 to the end (CHS fields 0: LBA addressing only).
  const entry = 446;
  disk[entry] = 0x80;
  disk[entry + 4] = 0x83;
  disk.writeUInt32LE(1, entry + 8);
  disk.writeUInt32LE(sizeBytes / 512 - 1, entry + 12);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  return disk;
}

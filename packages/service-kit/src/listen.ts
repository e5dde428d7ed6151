// One port for a UDP socket and a TCP server (DNS, RFC 7766: a server answers on both).
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server } from 'node:net';

function bindUdp(udp: UdpSocket, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
}

function listenTcp(tcp: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
}

/**
 * Binds the UDP socket, then the TCP server on the same port number. With port 0 the UDP
 * socket picks a free number and TCP must get the same one; when that TCP port is taken,
 * fresh sockets from `make` try again (up to 20 times). A fixed port fails at once.
 */
export async function listenUdpAndTcp<U extends UdpSocket, T extends Server>(make: () => { udp: U; tcp: T }, host: string, port: number): Promise<{ udp: U; tcp: T; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const { udp, tcp } = make();
    try {
      await bindUdp(udp, port, host);
      const bound = udp.address().port;
      await listenTcp(tcp, bound, host);
      return { udp, tcp, port: bound };
    } catch (err) {
      try {
        udp.close();
      } catch {
        /* never bound */
      }
      tcp.close();
      if (port !== 0 || attempt >= 20) throw err;
    }
  }
}

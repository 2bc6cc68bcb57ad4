/** A TCP echo server on the host's loopback that records every byte it saw. */
import { createServer, type Server, type Socket } from 'node:net';

export class EchoServer {
  received = '';
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoServer> {
    // The callback runs only once a client connects, after echo is set.
    const server = createServer((socket) => echo.accept(socket));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    const echo = new EchoServer(server, typeof address === 'object' && address ? address.port : 0);
    return echo;
  }

  private accept(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.on('data', (chunk) => {
      this.received += chunk.toString('utf8');
      socket.write(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  get open(): number {
    return this.sockets.size;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

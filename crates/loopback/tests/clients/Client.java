// Connect the way a Java program does (new Socket(host, port)) and print what happened:
// `java Client.java HOST PORT` prints `connected ADDRESS` or `error MESSAGE`.
import java.net.Socket;

public class Client {
    public static void main(String[] args) {
        try (Socket s = new Socket(args[0], Integer.parseInt(args[1]))) {
            System.out.println("connected " + s.getInetAddress().getHostAddress());
        } catch (Exception e) {
            System.out.println("error " + e);
        }
    }
}
